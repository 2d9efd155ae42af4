"""The long-running parts of the bridge, one module per actor. Only this layer (with the root,
:mod:`whatsignal.service`, and the HTTP actor, :mod:`whatsignal.web.webhook_server`) opens
nurseries, owns cancel scopes and holds channel ends."""
