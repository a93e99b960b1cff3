from tui_mtl.cli import main

raise SystemExit(main())
