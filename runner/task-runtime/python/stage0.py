# stage 0 loader (placeholder)
