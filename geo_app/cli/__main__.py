"""`python -m geo_app.cli`: the same as `geo-app`."""

from geo_app.cli import main

main()
