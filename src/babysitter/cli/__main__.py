from babysitter.cli import main

main()
