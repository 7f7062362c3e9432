"""Image formats, in one place: what a file is, whether it is complete, and its pixels.

`verify` checks downloaded bytes (the downloader and the replay server), `decode` turns
a stored file into the array the parameters are computed from; both read JPEG 2000
through the same code.
"""
