"""What counts as a missing value and what is done with rows that have one: constants with
no imports, so the command line offers them without loading pandas. Applied in
:mod:`multilevel.frame`.

Examples
--------
>>> from multilevel.missing import NA_ACTIONS, NA_STRINGS
>>> NA_ACTIONS
('omit', 'error')
>>> "n/a" in NA_STRINGS
True
"""

__all__ = ["NA_ACTIONS", "NA_STRINGS"]

#: Values of ``na_action``: drop the rows with a missing value in a column the model uses
#: (R's ``na.omit``, the default of lme4 and brms), or refuse them (R's ``na.fail``).
NA_ACTIONS = ("omit", "error")

#: Text read as a missing value, in CSV files and in text columns that otherwise hold numbers.
NA_STRINGS = ("NA", "N/A", "n/a", "na", "NaN", "nan", ".", "", "null", "NULL", "None", "#N/A")
