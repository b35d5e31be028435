from services.feature_serving.app import main

main()
