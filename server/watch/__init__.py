"""Watch: the elder rules, the watchlist, home visits, the elder roster, alerts as readable text."""
