"""Small SMSCs on random loopback ports, built on the codec, each misbehaving in one way."""
