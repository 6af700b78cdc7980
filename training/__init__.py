"""Offline training and evaluation: datasets in, model directory out."""
