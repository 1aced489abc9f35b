from loss_lsp.cli import main

raise SystemExit(main())
