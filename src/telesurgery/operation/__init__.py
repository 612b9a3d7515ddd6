"""Operations, roles, control arbitration (pure) and authentication."""
