from ticksmith.cli import main

raise SystemExit(main())
