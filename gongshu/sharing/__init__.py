"""R15–R21 R26: sharing between departments — applications, grants, delivery, receipts, return data,
emergencies. Every delivery asks the kernel's access decision point and is audited with a sealed receipt."""
