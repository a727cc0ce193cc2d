"""Generators: speech, talking heads and video, each behind one backend interface per modality."""
