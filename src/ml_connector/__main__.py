from ml_connector.cli.app import main

main()
