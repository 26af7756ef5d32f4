"""The data: image folders, idx files and built-in sets as uint8 arrays, and the faces maker.

``images`` decodes any supported source once into a memory-mapped cache, ``cartoon_faces``
builds the project's own faces data set with facesjs, and ``provenance`` records where a
data set came from. Builds on ``training.errors`` only; the loop and the quality checks
read data through it.
"""
