from services.candidate_gen.app import main

main()
