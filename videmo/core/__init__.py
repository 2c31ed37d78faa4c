"""What every other part shares and none of them owns: errors and their one-line wording, atomic file
writes, the option spec and the options objects built from it, the emotion classes and their colours.
Imports nothing else of videmo's and never torch."""
