"""The long-running parts of the bridge. Only this layer (with service and web.server) opens
nurseries, owns cancel scopes and holds channel ends."""
