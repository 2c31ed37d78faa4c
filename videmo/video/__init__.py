"""Reading videos: what a file holds (``probe``), its frames with their times and damage (``decode``),
and where its shots cut (``cuts``). Never imports torch."""
