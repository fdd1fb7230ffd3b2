"""Everything ticksmith says to Kafka about itself: the `kafka` settings, the clients
built from them, the topics, who owns which partition, and what a failed connection
means (settings, clients, topics, ownership, diagnose). redact.py keeps secrets out of
aiokafka's logs: the command line installs it, and so does building a SASL client's
arguments."""
