"""One small module per unlearning method: ``<Method>Config`` beside ``<Method>Trainer``."""
