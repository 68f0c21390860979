"""Blob stores behind one interface: local filesystem (default); S3 comes later."""

from __future__ import annotations

from sealyard.storage.filesystem import FilesystemBlobStore
from sealyard.storage.interface import BlobInfo, BlobStore, UploadWriter

__all__ = ["BlobInfo", "BlobStore", "FilesystemBlobStore", "UploadWriter"]
