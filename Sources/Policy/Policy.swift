// Policy stage; see the module's other files.
