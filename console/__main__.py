"""Allow `python -m console` where the `atlas-console` script is not installed."""

from console.app import main

raise SystemExit(main())
