from services.event_ingest.app import main

main()
