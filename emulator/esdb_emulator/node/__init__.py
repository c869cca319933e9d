"""The node: the gRPC server, its command line, launcher, TLS, authentication and gossip."""
