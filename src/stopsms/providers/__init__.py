"""Routes to handsets behind one contract (:mod:`.base`): the SMPP 3.4 ESME first."""
