"""medsr.models"""
