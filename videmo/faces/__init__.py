"""Faces in frames: MTCNN's detection loop (``detect``, reading pixels through ``areas``' summed-area
tables), the tracker that gives each face its id (``track``), and the crops the classifier labels
(``classify``)."""
