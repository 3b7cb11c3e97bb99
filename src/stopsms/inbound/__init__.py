"""What comes back: MO messages (STOP → opt-out → confirmation → attribution) and receipts."""
