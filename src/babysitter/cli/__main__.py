from babysitter.babysit import main

main()
