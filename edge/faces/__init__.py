"""Face crops of passages, kept on this machine (issue 18): the ring and the responder."""
