"""The MRML harness itself: a real scene with Slicer's default colour nodes and logics."""


def test_scene_has_default_colors_and_logics(mrml):
    scene = mrml.scene
    assert scene.GetNumberOfNodesByClass("vtkMRMLColorTableNode") > 10
    assert scene.GetNodeByID("vtkMRMLColorTableNodeGrey") is not None
    assert mrml.app_logic.GetModuleLogic("Volumes") is mrml.logics["Volumes"]
    assert mrml.app_logic.GetModuleLogic("Segmentations") is mrml.logics["Segmentations"]


def test_volume_node_gets_display_node_from_real_logic(mrml_scene):
    node = mrml_scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "probe")
    node.CreateDefaultDisplayNodes()
    assert node.GetDisplayNode() is not None
    assert node.GetScene() is mrml_scene
