"""Content trust: keys and signers, DSSE attestations, the TUF trust root, OCI attach."""
