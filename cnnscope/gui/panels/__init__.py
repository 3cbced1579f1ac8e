"""One widget per panel, built from (session, engine); panels never import each other."""
