"""One video's results: the types that cross the stages (``types``), its tables (``tables``,
``episodes``), one writer and one reader per file (``io``), its figures (``figures``,
``annotated``), the results folder on disk (``store``) and ``videmo episodes`` (``reanalysis``).
Never imports torch, so reading results is light."""
