"""R15–R21 R26: sharing between departments — applications, grants, delivery, receipts, return data,
emergencies. Every delivery asks the kernel's access decision point and is audited with a sealed receipt.

Importing the package registers the sharing workflow hooks (a grant on an approved application, R17), so
every path that decides a case — pages, API, command line, jobs — acts the same way."""

from gongshu.sharing import applications as applications
