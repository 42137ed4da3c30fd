"""The gallery that learns at the gate, on the server: gate captures in, review items for an
officer ("是否为 王秀华？"), guarded automatic learning, learned templates with their provenance.

``service.Learning`` is the unit the server starts; ``store.LearningStore`` its tables;
``points`` the calibrated points; ``publish.DebouncedGallery`` one gallery version per burst.
This package's ``__init__`` imports nothing, so the registry may use ``forget`` without a cycle.
"""
