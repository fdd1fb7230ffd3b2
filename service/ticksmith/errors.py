"""One error root for ticksmith; subclasses live near where they arise."""


class TicksmithError(Exception):
    """Root of every error ticksmith raises on purpose."""


class ConfigError(TicksmithError):
    """A setting is missing or invalid; the message names the setting."""


class MissingTopic(TicksmithError):
    """A configured topic does not exist on the cluster."""
