from videmo.cli import main

main()
