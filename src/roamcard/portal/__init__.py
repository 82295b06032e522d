"""The official-website channel: a self-service portal (server-rendered, zh-CN and en, works without JS)."""
