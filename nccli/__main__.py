from nccli.cli.main import main

main()
