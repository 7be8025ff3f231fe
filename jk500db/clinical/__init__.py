"""Pure clinical rules: no database, no Flask. Inputs are numbers as entered; arithmetic is Decimal."""
