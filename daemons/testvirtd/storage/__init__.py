"""Storage pools and volumes: the model (:mod:`.model`) and the REMOTE procedures with the
volume data streams (:mod:`.procedures`)."""
