from services.ranking.app import main

main()
