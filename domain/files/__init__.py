"""Client files (SPEC 6): the bytes in the attachments directory and their rows."""
