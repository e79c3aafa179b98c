from mmsem.cli import main

raise SystemExit(main())
