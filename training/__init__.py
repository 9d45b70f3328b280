"""Offline training and evaluation of the classifier and the segmenter."""
